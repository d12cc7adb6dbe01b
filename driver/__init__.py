"""The host driver: one engine API (:mod:`driver.api`) and its backends."""
