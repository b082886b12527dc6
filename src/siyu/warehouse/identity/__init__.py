"""OneID: the identity graph, its resolution with guards, and explanations of every profile."""
