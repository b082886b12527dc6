"""Measurement (效果追踪): KPIs, funnels, cohorts, paths, attribution, experiments and alerts.

Each subpackage takes tables in and gives tables out; none knows which engine runs it or HTTP.
"""
