"""通知: the outbox delivered to people on 企业微信, 钉钉, e-mail and webhooks."""
