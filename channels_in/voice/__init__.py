"""Phone through a Twilio-compatible voice API: an IVR menu, voicemail, missed calls, and
calls an agent logs by hand."""
