"""Offline render of the meshbridge program on Pulumi's mock engine (`python -m synth`)."""
