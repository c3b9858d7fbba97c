"""Every channel as a pair of translations (its payload -> our Message, our Reply -> its wire or API
call): REST, the widget's WebSocket, Telegram, Slack, WhatsApp and Messenger; signatures, widget
sessions, the delivery log and background dispatch; the Rasa actions. Imports core and below."""
