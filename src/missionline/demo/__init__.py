"""The demo company: its plan and a synthetic data generator with known true parameters."""
