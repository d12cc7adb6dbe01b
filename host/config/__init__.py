"""IOS configuration: the model (:mod:`.model`), the commands of each mode (``cmd_*``), and
loading configuration text (:mod:`.loader`)."""
