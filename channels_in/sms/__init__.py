"""SMS through a Twilio-compatible API: signed form posts in, the Messages resource out."""
