"""The router: IOS configuration and crypto policy, the IPsec data plane, exec commands."""
