"""The services that apply the engine's decisions to records (see docs/architecture.md)."""
from process.service import (  # noqa: F401
    apply_effects, create_based_on, may_move, route_stage_change, transition,
)
