"""Tests of the AliCloud plugin."""
