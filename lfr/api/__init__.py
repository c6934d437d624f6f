"""The HTTP API and the officer web app: FastAPI app factory, auth and roles, the ports the
site plugs into, Web Push, and the runner that serves it with the alert services."""

from lfr.api.app import create_app
from lfr.api.auth import (
    AuthConfig,
    AuthError,
    Principal,
    Role,
    TokenIssuer,
    TokenVerifier,
    load_or_create_api_key,
)
from lfr.api.ports import SiteCommands, WatchlistEntryInfo, WatchlistService
from lfr.api.push import PushService, VapidKey
from lfr.api.server import AlertServices, AlertServicesConfig, run_alert_services, serve_http

__all__ = [
    "AlertServices",
    "AlertServicesConfig",
    "AuthConfig",
    "AuthError",
    "Principal",
    "PushService",
    "Role",
    "SiteCommands",
    "TokenIssuer",
    "TokenVerifier",
    "VapidKey",
    "WatchlistEntryInfo",
    "WatchlistService",
    "create_app",
    "load_or_create_api_key",
    "run_alert_services",
    "serve_http",
]
