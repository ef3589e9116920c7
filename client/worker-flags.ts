import { keepYoungGenerationSmall } from '../worker/young-generation.js';

// cli.ts imports this module first, so that this runs before the modules it loads next (zod alone grows V8's young
// generation from 1 to 4 MB): `claude-batch worker` is a worker's whole process, and its young generation is kept
// small (worker/young-generation.ts). Other commands keep V8's defaults.
if (process.argv[2] === 'worker') keepYoungGenerationSmall();
