/**
 * Ed25519 signing of webhook deliveries as SPEC section 9 describes: the message is
 * `request_id \n user_id \n timestamp \n hex(sha256(raw body))`, the signature its hex. Node's
 * `crypto` does the cryptography; this file only arranges the bytes.
 */
import * as crypto from "node:crypto"

/** A public key as fal's JWKS lists it. */
export interface PublicJwk {
  readonly kty: "OKP"
  readonly crv: "Ed25519"
  readonly x: string
  readonly kid: string
}

/** A private key as given in a configuration: the JWK with its `d` component. */
export interface PrivateJwk {
  readonly kty: "OKP"
  readonly crv: "Ed25519"
  readonly x: string
  readonly d: string
  readonly kid?: string | undefined
}

export interface SigningKey {
  readonly kid: string
  readonly privateKey: crypto.KeyObject
  readonly publicJwk: PublicJwk
}

const publicJwkOf = (publicKey: crypto.KeyObject, kid: string): PublicJwk => {
  const jwk = publicKey.export({ format: "jwk" })
  if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519" || typeof jwk.x !== "string") {
    throw new TypeError("webhook signing key: not an Ed25519 key")
  }
  return { kty: "OKP", crv: "Ed25519", x: jwk.x, kid }
}

export const generate = (kid: string): SigningKey => {
  const { privateKey, publicKey } = crypto.generateKeyPairSync("ed25519")
  return { kid, privateKey, publicJwk: publicJwkOf(publicKey, kid) }
}

export const fromPrivateJwk = (jwk: PrivateJwk, fallbackKid: string): SigningKey => {
  const kid = jwk.kid ?? fallbackKid
  const privateKey = crypto.createPrivateKey({
    key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, d: jwk.d },
    format: "jwk"
  })
  return { kid, privateKey, publicJwk: publicJwkOf(crypto.createPublicKey(privateKey), kid) }
}

export const sha256Hex = (body: Uint8Array): string => crypto.createHash("sha256").update(body).digest("hex")

/** The bytes fal signs. */
export const message = (requestId: string, userId: string, timestamp: string, body: Uint8Array): Uint8Array =>
  Buffer.from(`${requestId}\n${userId}\n${timestamp}\n${sha256Hex(body)}`, "utf8")

export const signHex = (key: SigningKey, bytes: Uint8Array): string =>
  crypto.sign(null, bytes, key.privateKey).toString("hex")

export const toBytes = (body: Uint8Array | string): Uint8Array =>
  typeof body === "string" ? Buffer.from(body, "utf8") : body
