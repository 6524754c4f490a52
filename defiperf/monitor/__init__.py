"""PerformanceMonitor: metrics recorded in C, system stats, alerts, bottlenecks, hot paths."""

from __future__ import annotations

from defiperf.monitor.alerts import Alert as Alert
from defiperf.monitor.alerts import AlertRule as AlertRule
from defiperf.monitor.alerts import log_alert as log_alert
from defiperf.monitor.analysis import Bottleneck as Bottleneck
from defiperf.monitor.analysis import HotPath as HotPath
from defiperf.monitor.config import DEFAULT_MONITORING_CONFIG as DEFAULT_MONITORING_CONFIG
from defiperf.monitor.config import MonitoringConfig as MonitoringConfig
from defiperf.monitor.middleware import ASGIMetricsMiddleware as ASGIMetricsMiddleware
from defiperf.monitor.middleware import WSGIMetricsMiddleware as WSGIMetricsMiddleware
from defiperf.monitor.middleware import metrics_asgi_app as metrics_asgi_app
from defiperf.monitor.middleware import metrics_wsgi_app as metrics_wsgi_app
from defiperf.monitor.monitor import PerformanceMonitor as PerformanceMonitor
from defiperf.monitor.otel import OTelBridge as OTelBridge
from defiperf.monitor.prometheus import PrometheusCollector as PrometheusCollector
from defiperf.monitor.recorder import Recorder as Recorder
from defiperf.monitor.report import Report as Report
from defiperf.monitor._store import KINDS as KINDS
from defiperf.monitor._store import Counter as Counter
from defiperf.monitor._store import Gauge as Gauge
from defiperf.monitor._store import MetricStore as MetricStore
from defiperf.monitor._store import Series as Series
from defiperf.structures.histogram import LogHistogram as LogHistogram

__all__ = [
    "DEFAULT_MONITORING_CONFIG",
    "ASGIMetricsMiddleware",
    "Alert",
    "AlertRule",
    "Bottleneck",
    "Counter",
    "Gauge",
    "HotPath",
    "KINDS",
    "LogHistogram",
    "MetricStore",
    "MonitoringConfig",
    "OTelBridge",
    "PerformanceMonitor",
    "PrometheusCollector",
    "Recorder",
    "Report",
    "Series",
    "WSGIMetricsMiddleware",
    "log_alert",
    "metrics_asgi_app",
    "metrics_wsgi_app",
]
