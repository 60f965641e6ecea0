"""The ``streamdr.yaml`` settings: sites, object-store targets, metadata DB, declared topics."""

from streamdr.settings.loader import find_settings_path, load_settings, parse_settings
from streamdr.settings.model import (
    ArtifactSettings,
    ConfigRepoSettings,
    FaultInjection,
    MetadataDbSettings,
    SecuritySettings,
    Settings,
    SiteSettings,
    SourceSettings,
    StoreSettings,
    TopicDeclaration,
)

__all__ = [
    "ArtifactSettings",
    "ConfigRepoSettings",
    "FaultInjection",
    "MetadataDbSettings",
    "SecuritySettings",
    "Settings",
    "SiteSettings",
    "SourceSettings",
    "StoreSettings",
    "TopicDeclaration",
    "find_settings_path",
    "load_settings",
    "parse_settings",
]
