"""Invoke task modules (thin: parse options, call the prjdevops library, report). Assembled by tasks.py."""
