# tests/unit/client.mk
