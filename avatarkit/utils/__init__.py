"""Helpers shared by every stage (atomic writes, content names, avatarkit's home folder)."""
