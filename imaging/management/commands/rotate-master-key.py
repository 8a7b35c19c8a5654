"""`manage.py rotate-master-key`: the spelling the operations runbook uses (same command)."""

from imaging.management.commands.rotate_master_key import Command

__all__ = ["Command"]
