import type { RequestContext, Stage } from './context.ts';

/** The caller's dialect turns the body into the internal request (throws registry errors with `param`). */
export const parseStage: Stage = {
  name: 'parse',
  run(ctx: RequestContext) {
    ctx.request = ctx.door.parseRequest(ctx.body, ctx.headers);
  },
};
