"""siyu — private-domain (私域) customer data and growth platform."""

__version__ = "0.1.0"
