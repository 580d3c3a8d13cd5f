"""The chain side: shipped contract artifacts, one client over any web3 provider, deployments."""
