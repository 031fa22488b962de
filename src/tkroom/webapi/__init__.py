"""The management WebAPI and the ClientAPI that SDKs call before they connect."""
