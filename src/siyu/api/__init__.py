"""The HTTP service (``siyu serve``): a Segment-compatible collector and the data service APIs.

Routers are thin: they authenticate, parse, call one room (collect, store, profile, serving) and
shape the answer. Errors are JSON ``{"code": ..., "message": ...}``; no stack trace ever leaves.
"""
