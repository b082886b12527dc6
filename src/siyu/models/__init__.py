"""Predictive models (预测性分析): CLV, churn early warning, purchase intent, clustering, basket rules and
Chinese comment analysis, with a registry of trained models and drift checks.

Every model trains from the lake, writes its predictions back as a ``models/<name>_predictions`` table
(which the predictive tags read) and is registered with its evidence. See docs/models.md.
"""
