"""Ways in besides a raw XADD: the HTTP API, signed CMS webhooks and watched feeds. Each ends in the
same XADD on the items stream an agency would make itself."""
