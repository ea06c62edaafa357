"""Test doubles that speak the real protocols on 127.0.0.1."""
