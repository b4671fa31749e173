"""Third-party code the tests compare against, copied unmodified under its own licence."""
