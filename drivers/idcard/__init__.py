"""Resident ID card (二代证) reader: SAM frames over serial, card decoding, a simulated module."""
