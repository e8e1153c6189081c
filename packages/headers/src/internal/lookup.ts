/** Header maps as they come: any casing, values possibly repeated. */
export type HeaderInput = Readonly<Record<string, string | ReadonlyArray<string> | undefined>>
