"""Profiles (用户画像): tags, RFM, lifecycle stages, member tiers and the segment rule language."""
