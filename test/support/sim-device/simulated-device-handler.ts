import { TextClassificationHandler } from '@app/handler';
import { openSimulatedDevice } from './simulated-session';

/**
 * The built-in text classifier (its tokenizer, tensors and softmax, all real work) over a
 * simulated device instead of ONNX Runtime: the handler module of the simulated-device package
 * (see `simulatedDeviceStore`).
 */
export default class SimulatedDeviceHandler extends TextClassificationHandler {
  constructor() {
    super(openSimulatedDevice);
  }
}
