"""Extraction from the Traffy Fondue public API: one client, one module per feed."""

from etl.traffy.client import TraffyClient
from etl.traffy.extract import ExtractInfo, Extraction, extract

__all__ = ["ExtractInfo", "Extraction", "TraffyClient", "extract"]
