"""Documents as PDF: the shipped Russian templates, the sandbox that compiles and checks a
template, and the renderer. Pure: no Flask, no database — callers pass plain values (the
context schema is in documents/samples.py)."""
