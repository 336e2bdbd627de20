"""The Reservations Service from "The Idea of Synthetic Monitoring": the system under observation."""

from target_service.app import ServiceConfig, create_app

__all__ = ["ServiceConfig", "create_app"]
