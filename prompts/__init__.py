"""Prompt templates and the retention playbook, shipped as package data."""
