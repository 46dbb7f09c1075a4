"""The services that apply the engine's decisions to records (see docs/architecture.md).

Import the modules themselves (`from process import service`): importing the package pulls
in nothing, so the row rules (app/scope.py) may read the catalog without the service."""
