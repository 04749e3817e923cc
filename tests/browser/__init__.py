"""The account page in a real headless Chromium, against a real `authgate serve`."""

ACCESS_TOKEN_TTL = 3  # seconds: short, so the page's silent refresh shows within a test
