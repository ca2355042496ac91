"""Hamafza's services: fan-out, deliver, amplify and the scheduler, wired in `services.app`."""
