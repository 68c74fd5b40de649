import type { Tensor } from '@tensorflow/tfjs-core';

/** A layer constraint on one parameter (tfjs-layers' `Constraint.apply`): returns the projected value. */
export type ParamConstraint = (value: Tensor) => Tensor;

/**
 * Why a teleport failed or was refused:
 * - `not-finite`: NaN or Inf in the gradients, the loss, the objective or the teleported weights;
 * - `drift`: the loss on the teleport batch moved more than `maxLossDrift`, even after halving g;
 * - `constraint`: the teleported weights would violate a layer's constraint (nonNeg, maxNorm, …);
 * - `no-improvement`: the search found no group element better than the identity;
 * - `growth`: a fresh measurement puts the gradient-norm growth above its cap;
 * - `no-orbit`: the group acts on the model's layers but has nothing to move at these weights (group
 *   'split' on a model whose duplicated units have drifted apart); a scheduled teleport is skipped with
 *   a report, a one-off `tp.teleport` throws;
 * - `unsupported`: the group cannot act on the model (layer, activation, shared or regularized layer);
 * - `bad-option`: an option, schedule or teleport batch is malformed.
 */
export type TeleportErrorKind = 'not-finite' | 'drift' | 'constraint' | 'no-improvement' | 'growth' | 'no-orbit' | 'unsupported' | 'bad-option';

/** The kinds that end a teleport as a rejection (weights restored) rather than a thrown error. */
export type RejectionKind = Extract<TeleportErrorKind, 'not-finite' | 'drift' | 'constraint' | 'no-improvement' | 'growth' | 'no-orbit'>;
