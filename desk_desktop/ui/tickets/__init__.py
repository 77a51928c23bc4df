"""The tickets view: the queue, the detail pane, new tickets, attachments and attention."""
