"""Telegram bot that finds, shows and watches parcels of Ukrainian and Polish carriers."""
