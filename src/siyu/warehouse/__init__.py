"""The lake and the warehouse: engine seam, ODS → DWD → DWS → ADS builds, OneID and data quality."""
