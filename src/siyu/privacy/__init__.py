"""Privacy (隐私): consent, PII vault, masking, data classes, RBAC, audit, erasure and retention."""
