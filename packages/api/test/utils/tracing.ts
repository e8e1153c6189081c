import * as Effect from "effect/Effect"
import * as Tracer from "effect/Tracer"

/** A tracer that records every span the current (native) tracer makes, and the spans so far. */
export const recorder: Effect.Effect<{ readonly tracer: Tracer.Tracer; readonly spans: Array<Tracer.Span> }> = Effect
  .map(Effect.tracer, (native) => {
    const spans: Array<Tracer.Span> = []
    const tracer = Tracer.make({
      span: (...args) => {
        const span = native.span(...args)
        spans.push(span)
        return span
      },
      context: native.context
    })
    return { tracer, spans }
  })
