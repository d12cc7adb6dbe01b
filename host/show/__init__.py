"""Show formatters: one module per ``show`` command, each a pure function of the configuration.

The exact layouts come from the spec's sample displays (golden tests compare them character for
character); where the spec has no sample, the nearest sample's style is followed and the choice
is written down in that module.
"""
