"""policy-tracker: watch privacy policies and terms pages, live and from the Wayback Machine."""

__version__ = "0.1.0"
