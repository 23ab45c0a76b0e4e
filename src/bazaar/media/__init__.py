"""Media: product images, decoded and re-encoded into WebP variants, stored by content address."""
