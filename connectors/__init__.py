"""Channel adapters. The REST (Rasa-compatible) channel and the widget's WebSocket live in bot.server
for now; Telegram, Slack, WhatsApp and Messenger adapters come with their own issue."""
