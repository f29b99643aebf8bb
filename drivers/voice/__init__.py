"""Voice calls: the Mandarin call text, its tone-numbered pinyin, offline speech to WAV, and the unit."""
